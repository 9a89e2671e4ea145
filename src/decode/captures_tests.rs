//! Decodes the shared real captures and compares with Zeek's conn.log baselines.
