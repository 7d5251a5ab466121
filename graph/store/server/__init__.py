"""The local Neo4j Community server abusenet installs from Maven Central jars and runs.

:class:`LocalNeo4j` is the one class to use; it is composed from :mod:`.install` (jars, config,
password), :mod:`.process` (start, stop, status, ports) and :mod:`.jvm` (Java, its flags, class
archives).
"""

from graph.store.server.errors import Neo4jServerError
from graph.store.server.install import NEO4J_VERSION, PARQUET_IMPORT_JARS, generate_password
from graph.store.server.jvm import JVM_FLAGS, SERVER_JVM_FLAGS, ClassArchive, find_java
from graph.store.server.local import LocalNeo4j
from graph.store.server.process import ServerStatus, free_port

__all__ = [
    "JVM_FLAGS", "NEO4J_VERSION", "PARQUET_IMPORT_JARS", "SERVER_JVM_FLAGS", "ClassArchive",
    "LocalNeo4j", "Neo4jServerError", "ServerStatus", "find_java", "free_port",
    "generate_password",
]
