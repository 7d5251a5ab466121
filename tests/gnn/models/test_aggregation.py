import torch

from gnn.models.aggregation import aggregate
from gnn.threads import torch_threads


def _gradient(x: torch.Tensor, edge_index: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    aggregate(x, edge_index, len(x)).backward(upstream)
    return x.grad


def test_gradient_is_the_same_bits_every_time_on_two_threads():
    # A source row gathered by many edges sums their gradients. With 2 threads those sums
    # were atomic adds in whatever order the threads ran (x_src[s]'s backward), so two
    # identical training steps differed in the last bits and two identical fits in their
    # scores; enough edges here (E x F well above torch's 32,768-element grain) that both
    # threads work on the gather.
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 64, generator=generator)
    edge_index = torch.randint(0, 500, (2, 5000), generator=generator)
    upstream = torch.randn(500, 128, generator=generator)
    with torch_threads(2):
        first = _gradient(x, edge_index, upstream)
        repeats = [_gradient(x, edge_index, upstream) for _ in range(5)]
    assert all(torch.equal(first, again) for again in repeats)
    with torch_threads(1):
        assert torch.equal(first, _gradient(x, edge_index, upstream))
