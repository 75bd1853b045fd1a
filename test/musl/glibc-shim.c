// Test harness only: lets Bun's musl builds (which need a libstdc++.so.6)
// run on Debian, which has no musl libstdc++. musl's loader ignores symbol
// versions, so Debian's glibc libstdc++ and libgcc_s load under it once
// these few glibc-only symbols exist. Nothing here is shipped.
#include <locale.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>

char __libc_single_threaded = 0;
unsigned int __cpu_model[4] = {0};
int __cpu_indicator_init(void) { return 0; }
// libgcc_s falls back to dl_iterate_phdr when this fails.
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
// thread_local destructors are not run: fine for a short test process.
int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso) { (void)dtor; (void)obj; (void)dso; return 0; }
size_t __strftime_l(char *s, size_t n, const char *f, const struct tm *tm, locale_t l) { return strftime_l(s, n, f, tm, l); }
unsigned long __getauxval(unsigned long type) { return getauxval(type); }
unsigned int arc4random(void) {
  unsigned int value = 0;
  getrandom(&value, sizeof value, 0);
  return value;
}
