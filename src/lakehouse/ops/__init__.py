"""Operations: retention and archive, table maintenance (optimize, vacuum)."""
