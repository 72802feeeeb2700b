"""Candidate retrieval: nearest-neighbour indexes and the merge of candidate sources."""
