// switchyard: the door (apps/dispatch.hpp). Statically linked; execs switchyard-sim or switchyard-runtime from
// its own folder with argv unchanged.
#include "apps/dispatch.hpp"

int main(int argc, char** argv) {
  using namespace sy::apps;
  return exec_beside_self(executable_for(argc, argv), argv);
}
