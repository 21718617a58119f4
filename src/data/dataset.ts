/** A labelled image set held as one flat buffer, so it can be shared with workers without copies. */
export interface LabelledImages {
  name: string;
  /** [n, channels*height*width], values in [0,1], row-major, NCHW per image. */
  images: Float32Array;
  /** [n], class ids in [0, numClasses). */
  labels: Int32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  numClasses: number;
  classNames: string[];
}

export interface TaskData {
  train: LabelledImages;
  validation: LabelledImages;
}

export function imageSize(d: Pick<LabelledImages, 'channels' | 'height' | 'width'>): number {
  return d.channels * d.height * d.width;
}

/**
 * The first `count` examples, as views on the same buffers (no copy). Loaders order examples
 * so that prefixes stay class-balanced, which is what makes a prefix a fair subset.
 */
export function prefix(d: LabelledImages, count: number): LabelledImages {
  if (count >= d.n) return d;
  return {
    ...d,
    images: d.images.subarray(0, count * imageSize(d)),
    labels: d.labels.subarray(0, count),
    n: count,
  };
}

/**
 * A copy whose images and labels live in SharedArrayBuffers: posting it to a worker then shares
 * memory instead of cloning tens of megabytes per worker.
 */
export function toShared(d: LabelledImages): LabelledImages {
  const images = new Float32Array(new SharedArrayBuffer(d.images.byteLength));
  images.set(d.images);
  const labels = new Int32Array(new SharedArrayBuffer(d.labels.byteLength));
  labels.set(d.labels);
  return { ...d, images, labels, classNames: [...d.classNames] };
}
