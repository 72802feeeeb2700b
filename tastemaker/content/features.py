"""Content features of an audio signal or file, computed with librosa.

Every file is decoded with soundfile (libsndfile), mixed down to mono and
resampled to SAMPLE_RATE, so features of files with different rates and
channel counts are comparable. The feature vector has the columns of
CONTENT_FEATURES, in that order:

* ``duration_s``: length of the whole file in seconds;
* ``tempo_bpm``: beats per minute (see :func:`estimate_tempo`);
* ``loudness_db``: RMS level of the analysed signal in dB relative to full scale;
* means over frames of the spectral centroid, bandwidth and roll-off (Hz),
  of the zero-crossing rate and of the 7 spectral-contrast bands (dB);
* the mean and the variance over frames of 20 MFCCs;
* the mean over frames of the 12 chroma bins (C, C#, ..., B), each frame
  scaled so that its largest bin is 1;
* ``onset_rate``: detected onsets per second.

A file longer than ``max_seconds`` is analysed over its first
``max_seconds``; ``duration_s`` is still the whole length.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_FFT = 2048
N_MFCC = 20
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CONTRAST_BANDS = 7  # librosa's default of 6 bands plus the residual band

# Tempo needs several beats and spectral features need whole frames, so
# shorter files are rejected rather than given unreliable features.
MIN_SECONDS = 1.0
# Below this peak level (-80 dBFS) a file counts as silent.
SILENCE_PEAK = 1e-4
DEFAULT_MAX_SECONDS = 600.0
FEATURE_VERSION = 1

CONTENT_FEATURES: tuple[str, ...] = (
    "duration_s", "tempo_bpm", "loudness_db", "spectral_centroid", "spectral_bandwidth", "spectral_rolloff",
    "zero_crossing_rate",
    *(f"spectral_contrast_{band}" for band in range(CONTRAST_BANDS)),
    *(f"mfcc_mean_{i}" for i in range(N_MFCC)),
    *(f"mfcc_var_{i}" for i in range(N_MFCC)),
    *(f"chroma_{name}" for name in PITCH_CLASSES),
    "onset_rate",
)
AUDIO_FILE_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class AudioContentError(InputError):
    """An audio file cannot be decoded, or has no content to measure (silent or too short)."""


@dataclass
class AudioTags:
    """Title and artist from a file's tags (ID3, Vorbis comments, RIFF INFO), None where absent."""

    title: str | None = None
    artist: str | None = None


@dataclass
class ContentFeatures:
    """Content features of one file: ``values`` follows CONTENT_FEATURES."""

    values: np.ndarray
    duration_s: float
    sample_rate: int
    tags: AudioTags

    def as_dict(self) -> dict[str, float]:
        return dict(zip(CONTENT_FEATURES, (float(v) for v in self.values)))


def read_audio(path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS
               ) -> tuple[np.ndarray, int, float, AudioTags]:
    """Decode a file into mono float32 samples at its own rate.

    Returns the samples (at most ``max_seconds`` of them), the file's sample
    rate, the whole file's duration in seconds and its tags.

    Raises
    ------
    AudioContentError
        When libsndfile cannot open or decode the file.
    """
    import soundfile

    path = Path(path)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = int(handle.samplerate)
            duration = handle.frames / rate if rate else 0.0
            frames = handle.frames if max_seconds is None else min(handle.frames, int(max_seconds * rate))
            samples = handle.read(frames, dtype="float32", always_2d=True)
            metadata = handle.copy_metadata()
    except (soundfile.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        raise AudioContentError(f"{path}: cannot decode the audio, so the file is corrupt or in a format libsndfile "
                                f"does not read (libsndfile: {_first_line(exc)}); tastemaker reads wav, flac, "
                                "ogg (Vorbis) and mp3") from exc
    tags = AudioTags(_tag(metadata, "title"), _tag(metadata, "artist"))
    return samples.mean(axis=1), rate, duration, tags


def extract_file(path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS) -> ContentFeatures:
    """Decode an audio file and compute its content features; see the module docstring.

    Raises
    ------
    AudioContentError
        When the file cannot be decoded, is shorter than MIN_SECONDS, or is silent.
    """
    samples, rate, duration, tags = read_audio(path, max_seconds)
    values = extract_signal(samples, rate, duration=duration, label=str(path))
    return ContentFeatures(values, duration, rate, tags)


def extract_signal(samples: np.ndarray, sample_rate: int, duration: float | None = None,
                   label: str = "signal") -> np.ndarray:
    """Compute the CONTENT_FEATURES vector of mono samples.

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono samples in [-1, 1].
    sample_rate : int
        Samples per second of ``samples``.
    duration : float, optional
        Length to report as ``duration_s``; by default that of ``samples``.
    label : str
        Names the input in error messages, usually the file path.

    Returns
    -------
    ndarray, shape (len(CONTENT_FEATURES),), float64
    """
    import librosa

    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise AudioContentError(f"{label}: expected mono samples (one dimension), got shape {samples.shape}")
    seconds = len(samples) / sample_rate if sample_rate else 0.0
    if seconds < MIN_SECONDS:
        raise AudioContentError(f"{label}: too short to analyse ({seconds:.2f} s of audio); content features "
                                f"need at least {MIN_SECONDS:.1f} s")
    if not np.all(np.isfinite(samples)):
        raise AudioContentError(f"{label}: the decoded samples contain NaN or infinite values; the file is corrupt")
    peak = float(np.max(np.abs(samples)))
    if peak < SILENCE_PEAK:
        level = 20 * math.log10(peak) if peak > 0 else float("-inf")
        raise AudioContentError(f"{label}: the audio is silent (peak level {level:.0f} dBFS, below "
                                f"{20 * math.log10(SILENCE_PEAK):.0f} dBFS); there is no content to measure")
    if sample_rate != SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    y, sr = samples, SAMPLE_RATE

    spectrum = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH))
    power = spectrum**2
    onset_envelope = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP_LENGTH)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_envelope, sr=sr, hop_length=HOP_LENGTH)
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))

    values = [
        seconds if duration is None else duration,
        estimate_tempo(onset_envelope, sr),
        20 * math.log10(max(rms, 1e-10)),
        librosa.feature.spectral_centroid(S=spectrum, sr=sr).mean(),
        librosa.feature.spectral_bandwidth(S=spectrum, sr=sr).mean(),
        librosa.feature.spectral_rolloff(S=spectrum, sr=sr).mean(),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH).mean(),
        *librosa.feature.spectral_contrast(S=spectrum, sr=sr).mean(axis=1),
        *mfcc.mean(axis=1),
        *mfcc.var(axis=1),
        *chroma.mean(axis=1),
        len(onsets) / (len(y) / sr),
    ]
    return np.asarray(values, dtype=np.float64)


def estimate_tempo(onset_envelope: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Estimate the tempo in beats per minute from an onset-strength envelope.

    librosa's tempogram estimate is quantised to whole autocorrelation lags,
    which at a hop of 512 samples are about 2.5% apart near 120 BPM. So it
    only seeds the beat tracker, and the tempo is refined from the slope of
    a least-squares line through the tracked beat times, which averages the
    frame quantisation over all beats. Returns 0.0 when no beat is found.
    """
    import librosa

    coarse = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_envelope, sr=sample_rate,
                                                       hop_length=HOP_LENGTH))[0])
    if not coarse > 0:
        return 0.0
    _, beats = librosa.beat.beat_track(onset_envelope=onset_envelope, sr=sample_rate, hop_length=HOP_LENGTH,
                                       bpm=coarse, units="time")
    if len(beats) < 4:
        return coarse
    slope = np.polyfit(np.arange(len(beats)), beats, 1)[0]
    refined = 60.0 / slope if slope > 0 else coarse
    # A refinement that strays from the seed means the beats did not follow
    # one steady pulse; keep the tempogram's estimate then.
    return refined if abs(refined - coarse) <= 0.1 * coarse else coarse


def _tag(metadata: dict, name: str) -> str | None:
    value = metadata.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
