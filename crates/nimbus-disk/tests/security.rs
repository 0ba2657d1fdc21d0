//! Security cases (filled below).
