"""The ring-candidate projection and its connected components on Spark (plain Spark SQL joins).

:func:`spark_projection` computes, from a snapshot directory, the account-account links of
:func:`graph.rings.projection.account_projection`: an entity shared by ``d`` accounts
(``2 <= d <= hub_degree_cap``) adds ``1 / ln(d)`` to each of its pairs, a money flow adds
``flow_weight / ln(2 + max(d_u, d_v))`` (``d``: distinct counterparties). A hub entity
(``d > hub_degree_cap``) is not expanded: it links its accounts in a chain, ordered by a seeded
hash of the account id, so its pairs differ from the local path's (which orders them with
NumPy's generator); every other link is the same. :func:`spark_components` labels the linked
accounts with their connected component by min-label propagation. :func:`spark_ring_components`
gives the ring search (:func:`graph.rings.candidates.find_ring_candidates`) the components of
ring size at each link weight of a :class:`~graph.rings.config.RingConfig`.

The tables are read and the links written by the executors; only the number of labels that
changed in each propagation round, and the members of the components of ring size, reach the
driver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from graph.rings.config import RingConfig
from graph.rings.projection import FLOW_RELATION
from graph.snapshot import ACCOUNT

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def spark_projection(
    spark: SparkSession,
    snapshot_dir: str | Path,
    *,
    hub_degree_cap: int = 200,
    flow_weight: float = 1.0,
    seed: int = 0,
) -> DataFrame:
    """The weighted account-account links of the snapshot at ``snapshot_dir``.

    Parameters
    ----------
    spark
        The session.
    snapshot_dir
        A snapshot directory (readable by every executor).
    hub_degree_cap, flow_weight, seed
        As for :func:`graph.rings.projection.account_projection`.

    Returns
    -------
    DataFrame
        ``src``, ``dst`` (account ids, ``src < dst``), ``weight`` (> 0): one row per linked pair.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    snapshot_dir = Path(snapshot_dir)
    relations = json.loads((snapshot_dir / "manifest.json").read_text())["relations"]

    def edges(name: str) -> DataFrame:
        return spark.read.parquet(str((snapshot_dir / "edges" / f"{name}.parquet").resolve()))

    uses = [
        edges(name).select(F.col("src").cast("string").alias("account"),
                           F.concat(F.lit(spec["dst"] + ":"),
                                    F.col("dst").cast("string")).alias("entity"))
        for name, spec in relations.items()
        if spec["src"] == ACCOUNT and spec["dst"] != ACCOUNT
    ]
    links = []
    if uses:
        incidence = uses[0]
        for more in uses[1:]:
            incidence = incidence.unionByName(more)
        incidence = incidence.distinct()
        by_entity = Window.partitionBy("entity")
        incidence = incidence.withColumn("d", F.count("*").over(by_entity)).where("d >= 2")
        incidence = incidence.withColumn("w", 1.0 / F.log(F.col("d").cast("double")))
        shared = incidence.where(F.col("d") <= hub_degree_cap)
        pairs = (shared.alias("a").join(shared.alias("b"), "entity")
                 .where(F.col("a.account") < F.col("b.account"))
                 .select(F.col("a.account").alias("src"), F.col("b.account").alias("dst"),
                         F.col("a.w").alias("weight")))
        hubs = incidence.where(F.col("d") > hub_degree_cap)
        order = Window.partitionBy("entity").orderBy(F.xxhash64(F.lit(seed), "account"),
                                                     "account")
        chain = (hubs.withColumn("next", F.lead("account").over(order))
                 .where("next IS NOT NULL")
                 .select(F.least("account", "next").alias("src"),
                         F.greatest("account", "next").alias("dst"), F.col("w").alias("weight")))
        links += [pairs, chain]
    if flow_weight > 0 and FLOW_RELATION in relations:
        flows = edges(FLOW_RELATION).select(F.col("src").cast("string").alias("u"),
                                            F.col("dst").cast("string").alias("v"))
        flows = flows.where("u <> v")
        linked = flows.select(F.least("u", "v").alias("src"),
                              F.greatest("u", "v").alias("dst")).distinct()
        ends = linked.select(F.col("src").alias("account")).unionAll(
            linked.select(F.col("dst").alias("account")))
        degree = ends.groupBy("account").agg(F.count("*").alias("deg"))
        links.append(
            linked.join(degree.withColumnRenamed("account", "src")
                        .withColumnRenamed("deg", "d_src"), "src")
            .join(degree.withColumnRenamed("account", "dst").withColumnRenamed("deg", "d_dst"),
                  "dst")
            .select("src", "dst", (F.lit(float(flow_weight))
                                   / F.log(2.0 + F.greatest("d_src", "d_dst"))).alias("weight")))
    if not links:
        return spark.createDataFrame([], "src STRING, dst STRING, weight DOUBLE")
    everything = links[0]
    for more in links[1:]:
        everything = everything.unionByName(more)
    return everything.groupBy("src", "dst").agg(F.sum("weight").alias("weight"))


def spark_components(links: DataFrame, *, min_weight: float = 0.0,
                     max_rounds: int = 1000) -> DataFrame:
    """Connected components of the links at least ``min_weight`` heavy.

    Parameters
    ----------
    links
        ``src``, ``dst``, ``weight`` (as :func:`spark_projection` gives them).
    min_weight
        Lighter links are dropped first (as :func:`graph.rings.communities.components` does).
    max_rounds
        Rounds of label propagation allowed (one per hop of the longest shortest path).

    Returns
    -------
    DataFrame
        ``account``, ``component`` (the smallest account id of its component): one row per
        account with at least one kept link.

    Raises
    ------
    RuntimeError
        When the labels still change after ``max_rounds`` rounds.
    """
    from pyspark.sql import functions as F

    kept = links.where(F.col("weight") >= min_weight) if min_weight > 0 else links
    both = kept.select("src", "dst").unionAll(kept.select(F.col("dst").alias("src"),
                                                          F.col("src").alias("dst")))
    both = both.localCheckpoint()
    labels = (both.groupBy("src").agg(F.least(F.min("dst"), F.first("src")).alias("component"))
              .withColumnRenamed("src", "account").localCheckpoint())
    for _ in range(max_rounds):
        offered = (both.join(labels.withColumnRenamed("account", "dst"), "dst")
                   .groupBy("src").agg(F.min("component").alias("offered")))
        updated = (labels.join(offered.withColumnRenamed("src", "account"), "account")
                   .select("account", F.least("component", "offered").alias("component"),
                           (F.col("offered") < F.col("component")).alias("changed"))
                   .localCheckpoint())
        if updated.where("changed").limit(1).count() == 0:
            return updated.drop("changed")
        labels = updated.drop("changed")
    raise RuntimeError(f"connected components did not settle in {max_rounds} rounds")


def spark_ring_components(spark: SparkSession, snapshot_dir: str | Path,
                          config: RingConfig) -> dict[float, pd.DataFrame]:
    """The connected components of ring size of the snapshot's projection, at each link weight.

    The projection (:func:`spark_projection`, with the config's ``hub_degree_cap``,
    ``flow_weight`` and ``seed``) and its components (:func:`spark_components`) are computed on
    Spark; only the members of components of ``min_size..max_size`` accounts are collected.

    Parameters
    ----------
    spark
        The session.
    snapshot_dir
        A snapshot directory (readable by every executor).
    config
        The ring search settings.

    Returns
    -------
    dict of float to pandas.DataFrame
        For each weight of ``config.component_weights``: ``account``, ``component`` (the
        smallest account id of its component), one row per member, as
        :func:`graph.rings.candidates.find_ring_candidates` takes them (``linked_components``).
    """
    from pyspark.sql import functions as F

    links = spark_projection(spark, snapshot_dir, hub_degree_cap=config.hub_degree_cap,
                             flow_weight=config.flow_weight, seed=config.seed).localCheckpoint()
    found = {}
    for weight in config.component_weights:
        labels = spark_components(links, min_weight=weight)
        sizes = labels.groupBy("component").agg(F.count("*").alias("size"))
        sized = sizes.where(F.col("size").between(config.min_size, config.max_size))
        found[weight] = (labels.join(sized.select("component"), "component")
                         .select("account", "component").toPandas())
    return found
