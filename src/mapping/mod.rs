//! JMESPath field mappings: profile defaults, then global, then collection.
