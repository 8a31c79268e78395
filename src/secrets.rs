//! Redaction of secrets (passwords in connection strings, secret variables).
