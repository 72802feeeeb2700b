"""Cold start from content: what tastemaker can recommend without listening history.

* ``features``: content features of audio files, computed with librosa.
* ``mapping``: regression from content features to ALS track factors.
* ``model``: ALS plus mapped factors for unplayed tracks, in one Voyager index.
* ``onboarding``: recommendations for a new listener from a few liked artists or tracks.
* ``tags``: HetRec tags as artist descriptors, for artist similarity.
* ``title_vectors``: FastText word vectors of playlist-title words.
* ``coldstart`` and ``evaluation``: the cold-track protocol and the onboarding measurement.

Modules are imported directly, so importing this package loads no audio library.
"""
