// d4_test_ports N: reserves N loopback ports exactly as free_port() does (support/ports.hpp),
// prints them one per line, and holds them until its standard input closes. For test drivers not
// written in C++ (the browser test), so that every test on the machine draws from one pool.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "support/ports.hpp"

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 1;
  if (n < 1 || n > 100) {
    std::cerr << "usage: d4_test_ports N (1..100)\n";
    return 2;
  }
  try {
    for (int i = 0; i < n; ++i) std::cout << d4::test::free_port() << "\n";
    std::cout.flush();
  } catch (const std::exception& e) {
    std::cerr << "d4_test_ports: " << e.what() << "\n";
    return 1;
  }
  while (std::getchar() != EOF) {
  }
  return 0;
}
