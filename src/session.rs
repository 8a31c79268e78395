//! Session state as a pure fold over journal events.
