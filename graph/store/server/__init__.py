"""The local Neo4j Community server abusenet installs from Maven Central jars and runs."""
