"""In-memory models of Redis, Postgres and Stripe: the oracle for every run off real servers."""
