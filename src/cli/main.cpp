#include <iostream>

#include "core/error.hpp"

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::cout << "elmrun\n";
  return 0;
}
