"""Entry file for spark-submit, which runs a Python program only from a .py file.

Usage: ``PYSPARK_PYTHON=/path/to/venv/bin/python spark-submit --master URL
$(python -c 'import tastemaker.engines.submit as m; print(m.__file__)')
[--data-dir D] train --engine spark --input URL``; the arguments after the
file are those of the ``tastemaker`` command.
"""

from tastemaker.cli import main

if __name__ == "__main__":
    main()
