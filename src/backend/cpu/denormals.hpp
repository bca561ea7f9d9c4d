#pragma once
// Gradients that decay through hundreds of steps reach the subnormal range,
// where every multiply-add takes a microcode assist (10-20x slower). Flushing
// subnormals to zero changes results by less than 1e-38 absolute.
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace elm::cpu {

class ScopedFlushDenormals {
 public:
  ScopedFlushDenormals() {
#if defined(__SSE__)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040);  // FTZ (bit 15) and DAZ (bit 6)
#endif
  }
  ~ScopedFlushDenormals() {
#if defined(__SSE__)
    _mm_setcsr(saved_);
#endif
  }
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace elm::cpu
