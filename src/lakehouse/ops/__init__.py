"""Operations around the lake: readiness, and (as they land) monitoring, retention, maintenance, scheduling."""
