"""Pure domain of the disability two subsidies: values, rules, events, the application aggregate
and the entitlement months it owes. No I/O."""
