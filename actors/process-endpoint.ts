import type { ChildProcess } from 'node:child_process';
import type * as Comlink from 'comlink';

/** The side of an IPC channel a comlink endpoint talks through: a child process, or this process's parent. */
interface IpcSide {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * A comlink endpoint over Node's IPC channel (fork with serialization 'advanced', so typed arrays
 * and Maps travel by structured clone). IPC cannot move buffers, so comlink's transfer lists are
 * ignored: what a thread would have moved is copied.
 */
export function ipcEndpoint(side: IpcSide | ChildProcess | NodeJS.Process): Comlink.Endpoint {
  const ipc = side as IpcSide;
  const listeners = new Map<EventListenerOrEventListenerObject, (message: unknown) => void>();
  return {
    postMessage: (message: unknown) => {
      if (!ipc.send) throw new Error('ipcEndpoint: this side has no IPC channel');
      ipc.send(message);
    },
    addEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const listener = (data: unknown) => {
        const event = { data } as MessageEvent;
        if (typeof handler === 'function') handler(event);
        else handler.handleEvent(event);
      };
      listeners.set(handler, listener);
      ipc.on('message', listener);
    },
    removeEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const listener = listeners.get(handler);
      if (listener) ipc.off('message', listener);
      listeners.delete(handler);
    },
  };
}
