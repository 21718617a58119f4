import { broadcastBinary } from './binary.js';

export const add = broadcastBinary('Add', 'add');
