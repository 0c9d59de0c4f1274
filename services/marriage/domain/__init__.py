"""Pure marriage-registration logic: aggregates decide commands into events and fold events
into state; the legal rules are named objects. No I/O, no clock, no wire types."""
