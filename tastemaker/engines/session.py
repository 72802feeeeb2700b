"""Start Spark for tastemaker: check pyspark and Java, build a quiet SparkSession.

pyspark is an optional dependency (``pip install 'tastemaker[spark]'``) and
Spark 4 runs on Java 17 or newer, so both are checked before a JVM starts,
and a missing one raises ``SparkUnavailableError`` with the fix.

Without ``--master`` Spark runs in local mode inside this process's JVM;
``local[N]`` uses N cores. Under ``spark-submit`` the master and every
setting come from spark-submit, and nothing here overrides them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import TastemakerError

log = logging.getLogger(__name__)

MIN_JAVA = 17
INSTALL_HINT = "install it with `pip install 'tastemaker[spark]'` (or `pip install 'pyspark>=4.0,<4.4'`)"
# Environment variable that sets the local-mode JVM heap, as Spark's memory strings (4g, 8192m).
DRIVER_MEMORY_ENV = "TASTEMAKER_SPARK_DRIVER_MEMORY"
# Spark's launcher sets this when spark-submit runs the Python program.
SPARK_SUBMIT_ENV = "PYSPARK_GATEWAY_PORT"
# Errors only. pyspark counts as Spark's shell: unless the logger of Spark's
# own classes has the root's level, Spark resets the console to another level
# and prints a notice about it.
LOG4J_CONFIG = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark %p %c{1}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = error
"""


class SparkUnavailableError(TastemakerError):
    """pyspark or a suitable Java is missing, or Spark failed to start."""


def require_pyspark() -> None:
    """Raise SparkUnavailableError unless pyspark can be imported."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailableError(f"--engine spark needs pyspark, which is not installed; {INSTALL_HINT}. "
                                    f"Spark also needs Java {MIN_JAVA} or newer")


def find_java() -> Path | None:
    """Return the java executable Spark would use: $JAVA_HOME/bin/java, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return candidate if candidate.is_file() else None
    found = shutil.which("java")
    return Path(found) if found else None


def parse_java_version(text: str) -> int | None:
    """Return the major version from ``java -version`` output: 8 for "1.8.0_292", 17 for "17.0.15"."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def check_java() -> int:
    """Return the major version of Spark's Java; raise SparkUnavailableError when it is missing or too old."""
    java = find_java()
    where = "$JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
    if java is None:
        detail = f"JAVA_HOME is {os.environ['JAVA_HOME']!r} but has no bin/java" if os.environ.get("JAVA_HOME") \
            else "no java on PATH and JAVA_HOME is not set"
        raise SparkUnavailableError(f"--engine spark needs Java {MIN_JAVA} or newer: {detail}. Install a JDK "
                                    f"(for example `apt-get install openjdk-{MIN_JAVA}-jre-headless`) and set "
                                    "JAVA_HOME to it")
    try:
        completed = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SparkUnavailableError(f"cannot run {java} -version ({where}): {exc}") from exc
    output = completed.stderr + completed.stdout
    major = parse_java_version(output)
    if major is None:
        first_line = output.strip().splitlines()[0] if output.strip() else "no output"
        raise SparkUnavailableError(f"cannot read the Java version of {java} ({where}) from {first_line!r}; "
                                    f"Spark needs Java {MIN_JAVA} or newer")
    if major < MIN_JAVA:
        raise SparkUnavailableError(f"{java} ({where}) is Java {major}, but Spark 4 needs Java {MIN_JAVA} or newer; "
                                    f"install a newer JDK and point JAVA_HOME at it")
    return major


def is_local(master: str | None) -> bool:
    """Tell whether Spark runs inside this process: no master outside spark-submit, or a local[...] master."""
    if master is None:
        return SPARK_SUBMIT_ENV not in os.environ
    return master == "local" or master.startswith("local[")


def local_settings(cores: str | None = None) -> dict[str, str]:
    """Return the settings tastemaker uses in local mode: no web UI, loopback only, few shuffle partitions."""
    count = os.cpu_count() or 2
    if cores and cores.isdigit():
        count = int(cores)
    memory = os.environ.get(DRIVER_MEMORY_ENV)
    if not memory:
        # In local mode the driver's JVM does all the work, so it gets half of the machine's memory.
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        memory = f"{max(1024, total // 2 // 2**20)}m"
    return {
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": str(2 * count),
        "spark.default.parallelism": str(2 * count),
        "spark.driver.memory": memory,
        # Factors and word vectors are collected to the driver, which is this process.
        "spark.driver.maxResultSize": "0",
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }


def _log4j_file() -> Path:
    path = Path(tempfile.gettempdir()) / "tastemaker-spark-log4j2.properties"
    if not path.is_file() or path.read_text() != LOG4J_CONFIG:
        path.write_text(LOG4J_CONFIG)
    return path


@contextmanager
def spark_session(master: str | None = None, app_name: str = "tastemaker",
                  settings: dict[str, str] | None = None) -> Iterator:
    """Yield a SparkSession and stop it afterwards; an already active session is yielded and left running.

    ``master`` is a Spark master URL (``local[2]``, ``spark://host:7077``,
    ``yarn``, ``k8s://...``); None means local mode, or whatever spark-submit
    set. ``settings`` are extra Spark settings, applied last.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        # A caller that started Spark itself (a notebook, a test) keeps its session running.
        yield active
        return
    check_java()
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    if is_local(master):
        cores = None
        if master and master.startswith("local["):
            cores = master[len("local["):-1]
        for key, value in local_settings(cores).items():
            builder = builder.config(key, value)
        # pyspark starts its Python workers with $PYSPARK_PYTHON, else with python3 on PATH, which may
        # lack tastemaker. In local mode they run this interpreter unless the variable is set.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # Spark logs INFO and WARN lines by the hundred; keep errors only.
        builder = builder.config("spark.driver.extraJavaOptions",
                                 f"-Dlog4j.configurationFile=file:{_log4j_file()}")
    for key, value in (settings or {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j and pyspark raise several unrelated types when the JVM fails to start
        raise SparkUnavailableError(f"Spark failed to start (master {master or 'local'}): {exc}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    log.info("Spark %s started, master %s, %d default partitions", spark.version, spark.sparkContext.master,
             spark.sparkContext.defaultParallelism)
    try:
        yield spark
    finally:
        spark.stop()
