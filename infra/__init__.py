"""Infrastructure for development and tests: the Kafka brokers and PostgreSQL the project starts."""
