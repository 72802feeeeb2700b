"""Products users see: playlist continuation, Discover Weekly, Daily Mix, Radio, Release Radar, Smart Shuffle and
the home page, each returning its tracks with an explanation per track."""
