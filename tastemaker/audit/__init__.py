"""Beyond-accuracy audit of recommended lists: exposure, popularity, diversity, calibration, duration."""
