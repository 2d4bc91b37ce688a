// Must not compile: a worker cannot send changes to a reference back.
#include <rankpool/rankpool.hpp>

void increment(int& x) {
  ++x;
}
RANKPOOL_REGISTER(increment);

int main() {}
