#pragma once
// numpy.argsort(v) with numpy 1.24's default kind ("quicksort"), reproduced step for step, so that the
// compat greedy breaks ties exactly as AlpaServe does (ALGORITHMS.md §3). That sort is an introsort and NOT
// stable: partitions of more than 16 elements are split around a median-of-three pivot (first, middle, last)
// parked at the second-to-last slot, smaller ones are insertion-sorted, and once the depth budget
// 2*floor(log2 n) is spent a partition is heapsorted. numpy 1.24 dispatches only `sort` (not `argsort`) to
// AVX-512, so this is the path argsort takes on every CPU.
// Pure functions; call from any thread.
#include <cstdint>
#include <vector>

namespace sy::policies {

/// Indices that sort `v` ascending, as numpy.argsort(np.array(v, dtype=np.float64)) returns them; NaNs sort
/// last, as in numpy.
[[nodiscard]] std::vector<int> numpy_argsort(const std::vector<double>& v);

/// Indices that sort `v` ascending, as numpy.argsort(np.array(v, dtype=np.int64)) returns them.
[[nodiscard]] std::vector<int> numpy_argsort(const std::vector<std::int64_t>& v);

} // namespace sy::policies
