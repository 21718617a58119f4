import { broadcastBinary } from './binary.js';

export const sub = broadcastBinary('Sub', 'sub');
