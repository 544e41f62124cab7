/* The Edge TPU twin's libedgetpu.so.1: a TFLite external delegate that opens only the devices
 * the twin declares (THINK_TWIN_EDGETPU_DEVICES, e.g. "usb:0,usb:1") and leaves every node to
 * TFLite's int8 kernels. Device names as libedgetpu takes them: "usb:N", "pci:N", ":N" (the
 * N-th TPU of any kind); none: the first TPU free. A TPU is held by one process at a time, as
 * libedgetpu holds a real one: an flock on a file per TPU (THINK_TWIN_EDGETPU_LOCKS), kept
 * while the delegate lives and let go when it is destroyed or its process ends. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

typedef struct TfLiteContext TfLiteContext;
typedef struct TfLiteTensor TfLiteTensor;
typedef int TfLiteStatus;
typedef int TfLiteBufferHandle;
typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext*, struct TfLiteDelegate*);
  TfLiteStatus (*CopyFromBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle, TfLiteTensor*);
  TfLiteStatus (*CopyToBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle, TfLiteTensor*);
  void (*FreeBufferHandle)(TfLiteContext*, struct TfLiteDelegate*, TfLiteBufferHandle*);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static TfLiteStatus prepare(TfLiteContext* context, TfLiteDelegate* delegate) { return 0; }

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
  d->Prepare = prepare;
  d->data_ = (void*)(intptr_t)fd;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  if (!d) return; /* TFLite destroys what a failed create gave it, NULL */
  close((int)(intptr_t)d->data_);
  free(d);
}
