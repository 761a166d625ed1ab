// Communicator over MPI, or the one-process world (see dist.h).
#include "synpref/train/dist.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#ifdef SYNPREF_HAVE_MPI
#include <mpi.h>
#endif

#include "synpref/common/check.h"

namespace synpref::train {

namespace {

bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
}

}  // namespace

Communicator& Communicator::world() {
  static Communicator comm;
  return comm;
}

Communicator::Communicator() {
#ifdef SYNPREF_HAVE_MPI
  if (launched_by_mpirun()) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    initialized_ = true;
  }
#endif
}

Communicator::~Communicator() {
#ifdef SYNPREF_HAVE_MPI
  if (initialized_) MPI_Finalize();
#endif
}

#ifdef SYNPREF_HAVE_MPI
namespace {
// Reduce to rank 0, then broadcast: every rank ends with rank 0's bits. Chunked to stay within int counts.
template <typename T>
void reduce_bcast(std::span<T> values, MPI_Datatype type) {
  constexpr size_t kChunk = size_t{1} << 26;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (size_t i0 = 0; i0 < values.size(); i0 += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, values.size() - i0));
    T* p = values.data() + i0;
    if (rank == 0)
      MPI_Reduce(MPI_IN_PLACE, p, n, type, MPI_SUM, 0, MPI_COMM_WORLD);
    else
      MPI_Reduce(p, nullptr, n, type, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Bcast(p, n, type, 0, MPI_COMM_WORLD);
  }
}
}  // namespace
#endif

void Communicator::allreduce_sum(std::span<float> values) {
  if (size_ == 1) return;
#ifdef SYNPREF_HAVE_MPI
  reduce_bcast(values, MPI_FLOAT);
#endif
}

void Communicator::allreduce_sum(std::span<double> values) {
  if (size_ == 1) return;
#ifdef SYNPREF_HAVE_MPI
  reduce_bcast(values, MPI_DOUBLE);
#endif
}

void Communicator::barrier() {
  if (size_ == 1) return;
#ifdef SYNPREF_HAVE_MPI
  MPI_Barrier(MPI_COMM_WORLD);
#endif
}

std::string Communicator::mpi_library() {
#ifdef SYNPREF_HAVE_MPI
  return "MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION);
#else
  return "none";
#endif
}

}  // namespace synpref::train
