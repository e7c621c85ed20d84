"""OpenID Connect sign-in providers (Google): discovery, the code exchange, ID tokens."""
