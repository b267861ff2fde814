//! Reading exports: discover files, map or decompress them, sniff or force
//! the profile, split into chunks at record boundaries, parse in parallel.
