// Must not compile: the parameter type has no serialize().
#include <rankpool/rankpool.hpp>

struct opaque {
  int handle = 0;
};
int use(opaque o) {
  return o.handle;
}

int main() {
  rankpool::executor pool;
  return pool.submit(use, opaque{}).get();
}
