//! The compile job: inputs → records → collections → objects → feed file.
