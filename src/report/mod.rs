//! Output formats for connections and capture summaries.
