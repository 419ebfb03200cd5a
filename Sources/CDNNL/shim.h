#include <dnnl.h>

// Debian's libdnnl runs its threads through GNU OpenMP (libgomp); its thread count is OpenMP's, per calling thread.
void omp_set_num_threads(int threads);
