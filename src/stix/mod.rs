//! The STIX builder: canonical indicators → STIX 2.1 (and 2.0) objects.
