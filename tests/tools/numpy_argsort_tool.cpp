// Reads arrays from stdin, one a line: `f v0 v1 ...` (float64) or `i v0 v1 ...` (int64); writes, one a line,
// sy::policies::numpy_argsort of each. Driven by tests/reference/check_argsort_numpy.py against numpy.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "policies/placement/numpy_argsort.hpp"

int main() {
  std::string line;
  long lineno = 0;
  while (std::getline(std::cin, line)) {
    ++lineno;
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    std::vector<int> idx;
    std::string tok;
    if (kind == "f") {
      std::vector<double> v;
      while (in >> tok)
        v.push_back(std::strtod(tok.c_str(), nullptr));
      idx = sy::policies::numpy_argsort(v);
    } else if (kind == "i") {
      std::vector<std::int64_t> v;
      while (in >> tok)
        v.push_back(std::strtoll(tok.c_str(), nullptr, 10));
      idx = sy::policies::numpy_argsort(v);
    } else {
      std::cerr << "stdin:" << lineno << ": expected `f` or `i` first, found \"" << kind << "\"\n";
      return 2;
    }
    for (std::size_t i = 0; i < idx.size(); ++i)
      std::cout << (i ? " " : "") << idx[i];
    std::cout << '\n';
  }
  return 0;
}
