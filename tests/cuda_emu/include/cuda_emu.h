// CUDA kernels compiled as host C++: the emulation runtime that tests/cuda_emu/build.py force-includes
// (-include) before every kernel source. Test support only; never shipped.
//
// A launch runs the blocks of the grid one after another on the calling OS thread. The threads of a block
// are fibers (each on its own stack with a guard page below it): every thread runs until it
// reaches __syncthreads() or returns, then the next thread runs; when all have stopped, the phase is over and
// the next one starts. So shared memory is one static array per declaration (build.py rewrites `__shared__`
// declarations into statics registered with shared()), and an atomic is a plain read-modify-write.
//
// What makes bugs visible rather than lucky:
// - the order of the threads within each phase, and of the blocks, is chosen per launch: forward, reverse,
//   or a seeded random permutation drawn anew for every phase (a missing barrier that one order hides shows
//   under another);
// - every registered shared array is filled with 0xFF bytes (NaN for floating types) before every block;
// - after each phase the scheduler requires that either every thread returned or every thread waits at the
//   same __syncthreads() (the call's source line identifies it), else the launch fails with both threads named.
//
// Everything here has internal linkage (an unnamed namespace, thread_local indices), and the library is
// built with -fvisibility=hidden -fno-gnu-unique, so two loaded kernel libraries share no state.
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#if defined(__SANITIZE_THREAD__)
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

#include "cuda_fp16.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// g++ understands __restrict__ itself.

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

// Set by the scheduler before it resumes a thread; thread_local so that an engine with one OS thread per
// CUDA thread could use the same names.
static thread_local uint3 threadIdx, blockIdx;
static thread_local dim3 blockDim, gridDim;

// CUDA's min/max overloads for mixed integer and floating arguments, as the usual arithmetic conversions.
template <typename A, typename B>
inline typename std::common_type<A, B>::type min(A a, B b) {
    typedef typename std::common_type<A, B>::type R;
    return (R)a < (R)b ? (R)a : (R)b;
}
template <typename A, typename B>
inline typename std::common_type<A, B>::type max(A a, B b) {
    typedef typename std::common_type<A, B>::type R;
    return (R)a > (R)b ? (R)a : (R)b;
}

inline float __int_as_float(int v) {
    float f;
    memcpy(&f, &v, sizeof f);
    return f;
}
inline double __longlong_as_double(long long v) {
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

// Blocks run one after another and a thread switch happens only at a barrier, so nothing runs between
// the read and the write.
template <typename T>
inline T atomicAdd(T* address, T value) {
    const T old = *address;
    *address = (T)(old + value);
    return old;
}

#define __syncthreads() ::emu::barrier(__LINE__)

namespace emu {
namespace {

enum Order { FORWARD = 0, REVERSE = 1, RANDOM = 2 };
enum State { RUNNABLE, WAITING, DONE };

constexpr size_t STACK_BYTES = 256 * 1024;

// A thread switch is a few register moves (no signal-mask system calls, unlike swapcontext), except under
// AddressSanitizer, whose runtime knows about swapcontext but not about hand-made stack switches. Under
// ThreadSanitizer the threads of a block are OS threads instead (EMU_THREADS), so that it sees their races.
#if defined(__SANITIZE_THREAD__)
#define EMU_THREADS 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMU_UCONTEXT 1
struct Context { ucontext_t uc; };
#else
struct Context { void* sp; };
#endif

struct Fiber {
    Context ctx;
    char* stack = nullptr;  // STACK_BYTES usable, a PROT_NONE guard page below
    State state = RUNNABLE;
    int line = 0;  // the __syncthreads() it waits at
    uint3 tid;
};

struct Shared {
    void* ptr;
    size_t bytes;
};

// The running launch (one at a time per library: the Python side holds the GIL around a launch).
Context scheduler_ctx;
Fiber* current = nullptr;
void (*body)(void*) = nullptr;
void* body_args = nullptr;
std::vector<Fiber> fibers;
std::vector<Shared> shared_arrays;
size_t page_bytes = 0;

#ifdef EMU_UCONTEXT
void fiber_main() {
    body(body_args);
    current->state = DONE;  // returning resumes uc_link, the scheduler
}

void context_start(Fiber& f) {
    getcontext(&f.ctx.uc);
    f.ctx.uc.uc_stack.ss_sp = f.stack;
    f.ctx.uc.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc.uc_link = &scheduler_ctx.uc;
    makecontext(&f.ctx.uc, fiber_main, 0);
}

inline void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#else
// emu_switch(&from_sp, to_sp): push the callee-saved registers and the SSE/x87 control words, store the stack
// pointer, load the other one, pop its registers, return into it (x86-64 System V).
extern "C" void emu_switch(void** from_sp, void* to_sp);
asm(R"(
    .text
    .p2align 4
    .type emu_switch, @function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch, .-emu_switch
)");

inline void context_switch(Context& from, Context& to) { emu_switch(&from.sp, to.sp); }

[[noreturn]] void fiber_main() {
    body(body_args);
    current->state = DONE;
    context_switch(current->ctx, scheduler_ctx);  // never resumed
    __builtin_unreachable();
}

void context_start(Fiber& f) {
    // A frame as emu_switch leaves it: control words, six registers, then fiber_main as the return address,
    // placed so that fiber_main starts with the stack aligned as after a call.
    uint64_t* sp = (uint64_t*)(f.stack + STACK_BYTES) - 1;
    *--sp = (uint64_t)(void*)&fiber_main;
    for (int r = 0; r < 6; ++r) *--sp = 0;
    uint32_t control[2];
    asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(control[0]), "=m"(control[1]));
    *--sp = (uint64_t)control[0] | ((uint64_t)(control[1] & 0xFFFF) << 32);
    f.ctx.sp = sp;
}
#endif

bool ensure_fibers(size_t n, std::string& err) {
    if (!page_bytes) page_bytes = (size_t)sysconf(_SC_PAGESIZE);
    while (fibers.size() < n) {
        void* mem = mmap(nullptr, STACK_BYTES + page_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            err = "cannot map a fiber stack";
            return false;
        }
        mprotect(mem, page_bytes, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
        fibers.emplace_back();
        fibers.back().stack = (char*)mem + page_bytes;
    }
    return true;
}

std::string thread_name(const uint3& t, const uint3& b) {
    char buf[96];
    snprintf(buf, sizeof buf, "thread (%u,%u,%u) of block (%u,%u,%u)", t.x, t.y, t.z, b.x, b.y, b.z);
    return buf;
}

void permute(std::vector<unsigned>& order, Order mode, std::mt19937_64& rng) {
    for (unsigned i = 0; i < order.size(); ++i) order[i] = i;
    if (mode == REVERSE) std::reverse(order.begin(), order.end());
    if (mode == RANDOM) std::shuffle(order.begin(), order.end(), rng);
}

#ifdef EMU_THREADS
// One block's barrier: threads arrive, the last one of a phase (counting those that returned) releases the rest.
struct BlockSync {
    std::mutex m;
    std::condition_variable cv;
    unsigned n = 0, arrived = 0, exited = 0;
    unsigned long long phase = 0;
    int line = -1;
    std::string err;
};
BlockSync* block_sync = nullptr;
std::mutex shared_mutex;

void release_phase(BlockSync& s) {
    if (s.exited && s.arrived && s.err.empty())
        s.err = "a thread of block (" + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," +
                std::to_string(blockIdx.z) + ") returned while others wait at the __syncthreads() of line " +
                std::to_string(s.line) + " (barrier divergence)";
    s.arrived = 0;
    s.line = -1;
    ++s.phase;
    s.cv.notify_all();
}

bool run_block(unsigned nthreads, Order, std::mt19937_64&, std::string& err) {
    for (const Shared& sh : shared_arrays) memset(sh.ptr, 0xFF, sh.bytes);
    BlockSync sync;
    sync.n = nthreads;
    block_sync = &sync;
    const uint3 b = blockIdx;
    const dim3 bd = blockDim, gd = gridDim;
    std::vector<std::thread> threads;
    threads.reserve(nthreads);
    for (unsigned i = 0; i < nthreads; ++i)
        threads.emplace_back([=, &sync] {
            threadIdx = uint3(i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y));
            blockIdx = b;
            blockDim = bd;
            gridDim = gd;
            body(body_args);
            std::lock_guard<std::mutex> lock(sync.m);
            ++sync.exited;
            if (sync.arrived && sync.arrived + sync.exited == sync.n) release_phase(sync);
        });
    for (std::thread& t : threads) t.join();
    block_sync = nullptr;
    err = sync.err;
    return err.empty();
}
#else
bool run_block(unsigned nthreads, Order mode, std::mt19937_64& rng, std::string& err) {
    for (const Shared& s : shared_arrays) memset(s.ptr, 0xFF, s.bytes);
    for (unsigned i = 0; i < nthreads; ++i) {
        Fiber& f = fibers[i];
        f.state = RUNNABLE;
        f.tid = uint3(i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y));
        context_start(f);
    }
    std::vector<unsigned> order(nthreads);
    for (;;) {
        permute(order, mode, rng);
        for (unsigned i : order) {
            Fiber& f = fibers[i];
            if (f.state == DONE) continue;
            f.state = RUNNABLE;
            current = &f;
            threadIdx = f.tid;
            context_switch(scheduler_ctx, f.ctx);
        }
        const Fiber* done = nullptr;
        const Fiber* waiting = nullptr;
        for (unsigned i = 0; i < nthreads; ++i) {
            const Fiber& f = fibers[i];
            if (f.state == DONE && !done) done = &f;
            if (f.state == WAITING) {
                if (waiting && waiting->line != f.line) {
                    err = thread_name(waiting->tid, blockIdx) + " waits at the __syncthreads() of line " +
                          std::to_string(waiting->line) + " while " + thread_name(f.tid, blockIdx) +
                          " waits at the one of line " + std::to_string(f.line);
                    return false;
                }
                if (!waiting) waiting = &f;
            }
        }
        if (!waiting) return true;
        if (done) {
            err = thread_name(done->tid, blockIdx) + " returned while " + thread_name(waiting->tid, blockIdx) +
                  " waits at the __syncthreads() of line " + std::to_string(waiting->line) +
                  " (barrier divergence)";
            return false;
        }
    }
}

#endif  // EMU_THREADS

int run_grid(void (*fn)(void*), void* args, const unsigned* grid, const unsigned* block, int order_mode,
             unsigned long long seed, char* err_out, int err_len) {
    std::string err;
    const unsigned nthreads = block[0] * block[1] * block[2];
    gridDim = dim3(grid[0], grid[1], grid[2]);
    blockDim = dim3(block[0], block[1], block[2]);
    body = fn;
    body_args = args;
    shared_arrays.clear();
#ifdef EMU_THREADS
    bool ok = true;
#else
    bool ok = ensure_fibers(nthreads, err);
#endif
    const unsigned long long nblocks = (unsigned long long)grid[0] * grid[1] * grid[2];
    std::mt19937_64 rng(seed);
    const Order mode = (Order)order_mode;
    // Block order: forward, reverse, or a random affine walk b -> (a*b + c) mod nblocks with a coprime to
    // nblocks (a permutation without materialising one per block of a large grid).
    unsigned long long stride = 1, start = 0;
    if (mode == RANDOM && nblocks > 1) {
        do stride = rng() % nblocks; while (std::gcd(stride, nblocks) != 1);
        start = rng() % nblocks;
    }
    for (unsigned long long k = 0; ok && k < nblocks; ++k) {
        unsigned long long b = mode == FORWARD ? k : mode == REVERSE ? nblocks - 1 - k : (start + k * stride) % nblocks;
        blockIdx = uint3((unsigned)(b % grid[0]), (unsigned)((b / grid[0]) % grid[1]),
                         (unsigned)(b / ((unsigned long long)grid[0] * grid[1])));
        ok = run_block(nthreads, mode, rng, err);
    }
    current = nullptr;
    if (!ok) snprintf(err_out, (size_t)err_len, "%s", err.c_str());
    return ok ? 0 : 1;
}

// The kernel's parameter types by their C names, for the argument check on the Python side.
template <typename T> struct Name;
#define EMU_NAME(T, s) \
    template <> struct Name<T> { static std::string get() { return s; } };
EMU_NAME(bool, "bool")
EMU_NAME(signed char, "signed char")
EMU_NAME(unsigned char, "unsigned char")
EMU_NAME(int, "int")
EMU_NAME(unsigned int, "unsigned int")
EMU_NAME(long long, "long long")
EMU_NAME(unsigned long long, "unsigned long long")
EMU_NAME(__half, "__half")
EMU_NAME(float, "float")
EMU_NAME(double, "double")
#undef EMU_NAME
template <typename T> struct Name<T*> {
    static std::string get() { return Name<typename std::remove_const<T>::type>::get() + "*"; }
};

template <typename... P> std::string signature(void (*)(P...)) {
    std::string s;
    ((s += (s.empty() ? "" : ",") + Name<P>::get()), ...);
    return s;
}

template <typename... P> struct Call {
    void (*kernel)(P...);
    void** args;  // cuLaunchKernel style: args[i] points at the value of parameter i
    template <size_t... I> void run(std::index_sequence<I...>) {
        kernel(*static_cast<typename std::remove_reference<P>::type*>(args[I])...);
    }
    static void enter(void* self) { static_cast<Call*>(self)->run(std::index_sequence_for<P...>{}); }
};

template <typename... P>
int launch(void (*kernel)(P...), const unsigned* grid, const unsigned* block, void** args, int order,
           unsigned long long seed, char* err, int err_len) {
    Call<P...> call{kernel, args};
    return run_grid(&Call<P...>::enter, &call, grid, block, order, seed, err, err_len);
}

// Every thread of every block calls this at the declaration of a (rewritten) __shared__ array; the first
// call of a launch fills the array and records it so that each later block starts from a filled array too.
inline void shared(void* ptr, size_t bytes) {
#ifdef EMU_THREADS
    std::lock_guard<std::mutex> lock(shared_mutex);
#endif
    for (const Shared& s : shared_arrays)
        if (s.ptr == ptr) return;
    memset(ptr, 0xFF, bytes);
    shared_arrays.push_back(Shared{ptr, bytes});
}

inline void barrier(int line) {
#ifdef EMU_THREADS
    BlockSync& s = *block_sync;
    std::unique_lock<std::mutex> lock(s.m);
    if (s.line == -1) s.line = line;
    if (s.line != line && s.err.empty())
        s.err = "threads wait at the __syncthreads() of line " + std::to_string(s.line) + " and of line " +
                std::to_string(line);
    const unsigned long long phase = s.phase;
    if (++s.arrived + s.exited == s.n) {
        release_phase(s);
    } else {
        s.cv.wait(lock, [&] { return s.phase != phase; });
    }
#else
    Fiber* f = current;
    f->state = WAITING;
    f->line = line;
    context_switch(f->ctx, scheduler_ctx);
#endif
}

}  // namespace
}  // namespace emu
