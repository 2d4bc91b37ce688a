// Must not compile: two arguments for a one-parameter function.
#include <rankpool/rankpool.hpp>

int square(int x) {
  return x * x;
}
RANKPOOL_REGISTER(square);

int main() {
  rankpool::executor pool;
  return pool.submit(square, 1, 2).get();
}
