/* Each rank prints its rank, the number of ranks and its host; an MPI_Allreduce over all ranks
 * shows they really talk to each other (the sum of 0..N-1). */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int rank, size, sum = 0;
    char host[256] = "";
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    gethostname(host, sizeof host - 1);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d of %d on %s, sum of ranks %d\n", rank, size, host, sum);
    MPI_Finalize();
    return 0;
}
