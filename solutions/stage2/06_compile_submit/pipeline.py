"""Lab 2.6: a small pipeline to compile with the KFP CLI and submit to a cluster.

Compile it: kfp dsl compile --py pipeline.py --output pipeline.yaml
"""

from typing import List

from kfp import dsl

IMAGE = "python:3.11.11-slim"  # no extra packages: quick to pull on a laptop cluster


@dsl.component(base_image=IMAGE)
def make_numbers(n: int, scale: float) -> List[float]:
    return [scale * i for i in range(1, n + 1)]


@dsl.component(base_image=IMAGE)
def summarise(numbers: List[float]) -> float:
    mean = sum(numbers) / len(numbers)
    print(f"{len(numbers)} numbers, mean {mean}")
    return mean


# --8<-- [start:pipeline]
@dsl.pipeline(name="number-summary", description="Make n scaled numbers and report their mean.")
def number_summary(n: int = 10, scale: float = 1.0) -> float:
    numbers = make_numbers(n=n, scale=scale)
    return summarise(numbers=numbers.output).output
# --8<-- [end:pipeline]
