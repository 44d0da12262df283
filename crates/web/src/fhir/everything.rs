//! `Patient/{id}/$everything`: TODO(issue 5) being built.
