// synpref/train/dist.h: data parallelism over MPI (optional at build time).
//
// Every rank holds the whole model and takes a disjoint share of each step's pairs; after the
// backward passes the flat gradient buffer is summed across ranks (reduce to rank 0, then
// broadcast, so every rank applies bitwise the same update and the replicas never drift).
// Built without MPI, or started without mpirun, the world is one process and every collective is
// the identity.
#pragma once

#include <span>
#include <string>

namespace synpref::train {

class Communicator {
 public:
  // The process's world. Initializes MPI on first use when synpref was built with MPI and the
  // process was started by mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE in the environment).
  static Communicator& world();
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // In-place sum across ranks; identical result on every rank.
  void allreduce_sum(std::span<float> values);
  void allreduce_sum(std::span<double> values);
  void barrier();
  // Whether this build can run across processes ("OpenMPI x.y" or "none").
  static std::string mpi_library();
  ~Communicator();

 private:
  Communicator();
  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
};

}  // namespace synpref::train
