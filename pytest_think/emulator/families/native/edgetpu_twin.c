/* The Edge TPU twin's libedgetpu.so.1: a TFLite external delegate that opens only the devices
 * the twin declares (THINK_TWIN_EDGETPU_DEVICES, e.g. "usb:0,usb:1") and fails like the real
 * one otherwise. Device names as libedgetpu takes them: "usb:N", "pci:N", ":N" (the N-th TPU
 * of any kind); none: the first TPU free. A TPU is held by one process at a time, as libedgetpu
 * holds a real one: an flock on a file per TPU (THINK_TWIN_EDGETPU_LOCKS), kept while the
 * delegate lives and let go when it is destroyed or its process ends.
 *
 * Like the real delegate it takes every node of the model onto "its TPU", and the TPU takes
 * time: each node holds its device for THINK_TWIN_EDGETPU_OP_US microseconds (0: no modelled
 * time), one node at a time per device, sleeping (so the caller's other threads, and the other
 * TPUs, run meanwhile). The node's arithmetic is TFLite's own int8 kernel, called from the
 * delegate's kernel on the node it replaced, so the twin computes what the TPU computes.
 *
 * The TFLite C ABI used (tensorflow/lite/core/c/common.h, TF >= 2.1, stable for delegates):
 * TfLiteContext's first nine members, TfLiteRegistration's, TfLiteNode's first five,
 * TfLiteIntArray and TfLiteDelegateParams. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

typedef int TfLiteStatus;
typedef struct { int size; int data[]; } TfLiteIntArray;
typedef struct TfLiteContext TfLiteContext;
typedef struct TfLiteDelegate TfLiteDelegate;
typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
} TfLiteNode; /* first members only: nodes are only ever reached through pointers here */
typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext*, const char*, size_t);
  void (*free)(TfLiteContext*, void*);
  TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*);
  TfLiteStatus (*invoke)(TfLiteContext*, TfLiteNode*);
  const char* (*profiling_string)(const TfLiteContext*, const TfLiteNode*);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  void* async_kernel;
  uint64_t inplace_operator;
} TfLiteRegistration;
struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(TfLiteContext*, TfLiteIntArray**);
  void* tensors;
  void* impl_;
  void* ResizeTensor;
  void (*ReportError)(TfLiteContext*, const char*, ...);
  void* AddTensors;
  TfLiteStatus (*GetNodeAndRegistration)(TfLiteContext*, int, TfLiteNode**,
                                         TfLiteRegistration**);
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(TfLiteContext*, TfLiteRegistration,
                                                        const TfLiteIntArray*, TfLiteDelegate*);
};
typedef struct TfLiteBufferHandleFns { void* a; void* b; void* c; } TfLiteBufferHandleFns;
struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext*, TfLiteDelegate*);
  TfLiteBufferHandleFns buffer_handle_fns;
  int64_t flags;
  void* opaque_delegate_builder;
};
typedef struct {
  TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

enum { BUILTIN_DELEGATE = 51, MAX_DEVICES = 64 };

/* One TPU: its name and the lock that keeps it to one node at a time. */
typedef struct {
  char name[64];
  pthread_mutex_t busy;
} Device;
static Device devices[MAX_DEVICES];
static int device_count;
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;

static Device* device_named(const char* name) {
  pthread_mutex_lock(&devices_lock);
  Device* found = NULL;
  for (int i = 0; i < device_count && !found; i++)
    if (strcmp(devices[i].name, name) == 0) found = &devices[i];
  if (!found && device_count < MAX_DEVICES) {
    found = &devices[device_count++];
    snprintf(found->name, sizeof found->name, "%s", name);
    pthread_mutex_init(&found->busy, NULL);
  }
  pthread_mutex_unlock(&devices_lock);
  return found;
}

/* The n-th name of a comma-separated list into out; 0 when there is none. */
static int nth_device(const char* devices, int n, char* out, size_t size) {
  const char* p = devices;
  for (int i = 0; p && *p; i++) {
    const char* end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (i == n) {
      snprintf(out, size, "%.*s", (int)len, p);
      return 1;
    }
    p = end ? end + 1 : NULL;
  }
  return 0;
}

/* Hold TPU `name` for this process: an open, flocked file descriptor; -1 when it is taken. */
static int hold(const char* name) {
  const char* dir = getenv("THINK_TWIN_EDGETPU_LOCKS");
  if (!dir || !*dir) return open("/dev/null", O_RDONLY);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.lock", dir, name);
  for (char* c = path + strlen(dir) + 1; *c; c++)
    if (*c == ':') *c = '_';
  int fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

typedef struct {
  Device* device;
  long op_ns;
  int fd; /* the flocked file that holds the TPU for this process */
} Tpu; /* the delegate's data_ */

typedef struct {
  Tpu* tpu;
  TfLiteNode* node; /* the node replaced, and its kernel */
  TfLiteRegistration reg;
} Op;

static void* op_init(TfLiteContext* context, const char* buffer, size_t length) {
  const TfLiteDelegateParams* params = (const TfLiteDelegateParams*)buffer;
  Op* op = calloc(1, sizeof(Op));
  TfLiteRegistration* reg;
  if (!op) return NULL;
  op->tpu = params->delegate->data_;
  context->GetNodeAndRegistration(context, params->nodes_to_replace->data[0], &op->node, &reg);
  op->reg = *reg;
  return op;
}

static void op_free(TfLiteContext* context, void* buffer) { free(buffer); }

static TfLiteStatus op_prepare(TfLiteContext* context, TfLiteNode* node) {
  Op* op = node->user_data;
  if (!op) return 1;
  TfLiteStatus status = op->reg.prepare ? op->reg.prepare(context, op->node) : 0;
  if (status == 0 && op->node->temporaries && op->node->temporaries->size > 0) {
    /* Scratch tensors of a replaced node are not planned: this twin cannot run that node. */
    context->ReportError(context, "Edge TPU twin: operator %d needs scratch tensors",
                         op->reg.builtin_code);
    return 1;
  }
  return status;
}

static TfLiteStatus op_invoke(TfLiteContext* context, TfLiteNode* node) {
  Op* op = node->user_data;
  static __thread int sharp;
  struct timespec until;
  if (!sharp) { /* wake at the modelled time, not up to 50 us after it (the default slack) */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    sharp = 1;
  }
  pthread_mutex_lock(&op->tpu->device->busy);
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_nsec += op->tpu->op_ns;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  TfLiteStatus status = op->reg.invoke(context, op->node);
  /* The device is busy for the modelled time, whatever computing it took here. */
  while (op->tpu->op_ns > 0 &&
         clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
  }
  pthread_mutex_unlock(&op->tpu->device->busy);
  return status;
}

static TfLiteStatus prepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  TfLiteIntArray* plan;
  if (context->GetExecutionPlan(context, &plan) != 0) return 1;
  int n = plan->size;
  int* nodes = malloc(sizeof(int) * (n ? n : 1));
  TfLiteIntArray* one = malloc(sizeof(TfLiteIntArray) + sizeof(int));
  if (!nodes || !one) return 1;
  memcpy(nodes, plan->data, sizeof(int) * n);
  TfLiteRegistration kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.init = op_init;
  kernel.free = op_free;
  kernel.prepare = op_prepare;
  kernel.invoke = op_invoke;
  kernel.custom_name = "edgetpu-twin";
  kernel.version = 1;
  TfLiteStatus status = 0;
  one->size = 1;
  /* Node by node, so that every tensor stays an input or output of a planned node. */
  for (int i = 0; i < n && status == 0; i++) {
    TfLiteNode* node;
    TfLiteRegistration* reg;
    context->GetNodeAndRegistration(context, nodes[i], &node, &reg);
    if (reg->builtin_code == BUILTIN_DELEGATE) continue;
    one->data[0] = nodes[i];
    status = context->ReplaceNodeSubsetsWithDelegateKernels(context, kernel, one, delegate);
  }
  free(one);
  free(nodes);
  return status;
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*)) {
  const char* devices = getenv("THINK_TWIN_EDGETPU_DEVICES");
  const char* wanted = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i], "device") == 0) wanted = values[i];
  char name[64] = "";
  int fd = -1;
  if (wanted) {
    /* ":0" or "usb:1": the twin's device list must have it, as a real host must. */
    char want[64], have[1024];
    snprintf(want, sizeof want, ",%s,", wanted);
    snprintf(have, sizeof have, ",%s,", devices ? devices : "");
    if (wanted[0] == ':') {
      nth_device(devices, atoi(wanted + 1), name, sizeof name);
    } else if (strstr(have, want) != NULL) {
      snprintf(name, sizeof name, "%s", wanted);
    }
    if (name[0]) fd = hold(name);
  } else {
    for (int k = 0; fd < 0 && nth_device(devices, k, name, sizeof name); k++) fd = hold(name);
  }
  if (fd < 0) {
    if (report_error) report_error("Failed to open device");
    return NULL;
  }
  TfLiteDelegate* d = calloc(1, sizeof(TfLiteDelegate));
  Tpu* tpu = calloc(1, sizeof(Tpu));
  Device* device = device_named(name);
  if (!d || !tpu || !device) {
    close(fd);
    free(d);
    free(tpu);
    return NULL;
  }
  const char* op_us = getenv("THINK_TWIN_EDGETPU_OP_US");
  tpu->op_ns = op_us ? (long)(atof(op_us) * 1000.0) : 0;
  tpu->device = device;
  tpu->fd = fd;
  d->data_ = tpu;
  d->Prepare = prepare;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  if (!d) return; /* TFLite destroys what a failed create gave it, NULL */
  Tpu* tpu = d->data_;
  if (tpu) {
    close(tpu->fd);
    free(tpu);
  }
  free(d);
}
