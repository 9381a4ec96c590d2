// The Catch2 main, compiled once for every test file. Started by mpirun (the data-parallel tests
// run this program's hidden "[.][ranks-...]" cases on several ranks), it runs them under MPI.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "core/distributed/communicator.h"

int main(int argc, char** argv) {
  const lowbit::DistributedSession session(&argc, &argv);
  return Catch::Session().run(argc, argv);
}
