//! Tests of the mock over HTTP: auth, fixtures, faults, accounting.
