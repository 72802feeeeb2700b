"""Distributed training on Apache Spark for data that outgrows one machine.

``export`` writes the store as Parquet, ``spark_training`` fits ALS (MLlib,
implicit preferences) and item2vec (MLlib Word2Vec) on that Parquet and
writes an ordinary tastemaker bundle, and ``recommend_all`` scores every
playlist or user with a bundle on the executors. Only ``export`` works
without pyspark; the others import it on first use, through ``session``.
"""
